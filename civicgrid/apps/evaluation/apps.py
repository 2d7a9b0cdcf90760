from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    """综合评价: rates, composite scores and grades of departments, grids, staff and regions (DOMAIN.md §4)."""

    name = "civicgrid.apps.evaluation"
    label = "evaluation"
    verbose_name = "综合评价"

    def ready(self):
        from . import formulas

        # A wrong CIVICGRID_EVALUATION_REGION_WEIGHTS fails at start-up, not at the first ranking table.
        formulas.region_terms()
