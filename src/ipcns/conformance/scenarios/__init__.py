"""The scenario modules; importing this package registers them all."""

from . import core, creation, lifetime, mqueue, sysctl, sysv_isolation

__all__ = ["core", "creation", "lifetime", "mqueue", "sysctl", "sysv_isolation"]
