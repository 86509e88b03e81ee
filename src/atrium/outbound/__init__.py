"""Outbound HTTP shared by every part that calls other servers: the pooled client, its
transport, request helpers and stream parsers."""
