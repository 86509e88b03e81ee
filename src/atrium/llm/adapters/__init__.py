"""Only the outbound HTTP helpers (`http.py`) remain here; the adapters live in
`atrium.providers.adapters`. `http.py` still imports its error and target types from this
package's former `base` module, so that name is bound to the moved module (one class object,
whichever path raises or catches it) until `http.py` imports from the new place."""

import sys
from importlib import import_module

sys.modules[f"{__name__}.base"] = import_module("atrium.providers.adapters.base")
