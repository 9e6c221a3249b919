"""Small helpers shared by the engine components."""

from ..params import EngineParams

__all__ = ["require_params", "refuse"]


def refuse(component, error):
    """Mark a component whose constructor is failing so amaranth does not also warn that it was never elaborated;
    return ``error`` for the caller to raise."""
    component._MustUse__silence = True
    return error


def require_params(component, params):
    """Return ``params`` if it is an :class:`EngineParams`; else raise ``TypeError`` naming ``component``'s class.

    The refused component is marked so that amaranth does not also warn that it was never elaborated.
    """
    if not isinstance(params, EngineParams):
        raise refuse(component, TypeError(f"{type(component).__name__}: params must be an EngineParams, "
                                          f"not {params!r}"))
    return params
