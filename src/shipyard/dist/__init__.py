"""How Shipyard itself is distributed.

- `running`: which copy of Shipyard is running (an installed wheel, or a checkout) and
  whether a checkout is exactly a released version;
- `wheel`: a wheel of the running copy (built from a checkout, or rebuilt from the
  installed files), for GitHub runners and servers that must run the very same version;
- `index`: which versions of Shipyard a package index has;
- `install`: how a GitHub runner installs that version (pure).

See docs/installing.md.
"""
