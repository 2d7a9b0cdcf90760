"""How the scope contract learns who may read categories and rules (they are not region-scoped models).

The selectors are the very ones the pages and the API read through, so the contract checks the endpoints
against the rule they claim to follow: staff read every category, residents and volunteers the public ones,
managers the routing rules, nobody else anything.
"""

from civicgrid.testing.contract import register_scope

from .selectors import visible_categories, visible_rules, visible_taxonomies

register_scope("categories.Taxonomy", visible_taxonomies)
register_scope("categories.Category", visible_categories)
register_scope("categories.RoutingRule", visible_rules)
