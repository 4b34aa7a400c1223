"""Growth and division: cell cycles of hybrid cells, partitioning, lineages.

```python
lin = wc.division.simulate(model, t, when=wc.division.doubled("SA"), n=100)
lin.to_dataframe(); lin.plot()
```
"""

from ._conditions import Doubled as Doubled
from ._conditions import Event as Event
from ._conditions import Values as Values
from ._conditions import doubled as doubled
from ._conditions import event as event
from ._driver import simulate as simulate
from ._lineage import Lineage as Lineage

__all__ = ["Doubled", "Event", "Lineage", "Values", "doubled", "event", "simulate"]
