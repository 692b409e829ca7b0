"""Django settings for the outbound scheduling service.

Every setting a deployment may change comes from an environment variable; each
one is listed with its default in the README ("Configuration"). With no
environment at all the service runs on an embedded default that needs no
server: SQLite and kombu's filesystem broker under ./var/.

One module per topic, gathered here in order (a later one may read an
earlier one's values, such as DEBUG); Django reads the upper-case names.
"""

from .environment import *  # noqa: F401,F403
from .base import *  # noqa: F401,F403
from .api import *  # noqa: F401,F403
from .tasks import *  # noqa: F401,F403
from .messaging import *  # noqa: F401,F403
from .observability import *  # noqa: F401,F403
