"""zuko, imported without its process-wide side effect on torch.distributions.

Importing zuko switches off argument validation for every torch ``Distribution`` and empties
the base class's ``arg_constraints``. rdframe puts both back (declaring instead that zuko's
``NormalizingFlow`` has no arguments to validate), so that importing rdframe changes
no global state and, for instance, a Bernoulli decoder still rejects grey levels.
"""

from torch.distributions import Distribution

_validate_args = Distribution._validate_args
_arg_constraints = Distribution.__dict__["arg_constraints"]

from zuko.distributions import NormalizingFlow  # noqa: E402
from zuko.flows import MAF, MaskedAutoregressiveTransform  # noqa: E402
from zuko.transforms import ComposedTransform  # noqa: E402

Distribution._validate_args = _validate_args
Distribution.arg_constraints = _arg_constraints
NormalizingFlow.arg_constraints = {}  # what zuko meant: a flow has no parameters to validate

__all__ = ["MAF", "ComposedTransform", "MaskedAutoregressiveTransform"]
