"""Inference engines. Importing this package configures JAX's persistent compilation cache
(:func:`rgfactor.inference.jaxcache.enable`) before anything is compiled, and glibc's allocator to keep
the memory XLA's programs free for their next run (:func:`rgfactor.inference.allocator.keep_freed_memory`)."""

from rgfactor.inference.allocator import keep_freed_memory as _keep_freed_memory
from rgfactor.inference.jaxcache import enable as _enable_cache

_keep_freed_memory()
_enable_cache()
