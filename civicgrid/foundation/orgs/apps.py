from django.apps import AppConfig


class OrgsConfig(AppConfig):
    """Departments, street offices, committees, companies, teams; posts and staff."""

    name = "civicgrid.foundation.orgs"
    label = "orgs"
    verbose_name = "组织机构"
