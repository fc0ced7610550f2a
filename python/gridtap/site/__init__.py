"""Site files (`config`: loading and checking) and running a site (`run`)."""

from gridtap.site.config import Site, SiteError, load_site
from gridtap.site.run import run_site

__all__ = ["Site", "SiteError", "load_site", "run_site"]
