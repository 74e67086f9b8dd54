"""`python -m elfrl.scene.navsim ...`: export NAVSIM scenes as scene packs (see export.main)."""

from elfrl.scene.navsim.export import main

raise SystemExit(main())
