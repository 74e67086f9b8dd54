"""The synthetic NAVSIM world: road layouts, scenario families, the rule-based expert, scene packs."""
