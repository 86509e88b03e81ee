from pydantic import BaseModel


class ResourcesRead(BaseModel):
    cpu_usage_pct: float
    cpu_count: int
    ram_total_mb: int
    ram_used_mb: int
    ram_usage_pct: float
    disk_total_gb: float
    disk_used_gb: float
    disk_usage_pct: float
    network_in_bytes: int
    network_out_bytes: int
    network_in_bytes_per_sec: float
    network_out_bytes_per_sec: float
    network_sample_seconds: float
    temperature_celsius: float | None = None
    load_average: list[float]


class GpuRead(BaseModel):
    index: int
    name: str
    memory_total_mb: int
    memory_used_mb: int
    utilization_pct: float
    temperature_celsius: float | None = None
    power_draw_watts: float | None = None


class GpuEnvelope(BaseModel):
    available: bool
    reason: str | None = None
    gpus: list[GpuRead]


class ServiceRead(BaseModel):
    name: str
    status: str
    detail: str | None = None
    uptime_seconds: float | None = None


class ServicesRead(BaseModel):
    services: list[ServiceRead]
