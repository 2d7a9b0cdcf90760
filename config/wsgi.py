import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

if os.environ.get("CIVICGRID_WARM_INTAKE", "1") not in {"0", "false", "no"}:
    # Load the locator index and the text router's model now, not in the first report a worker answers.
    from civicgrid.apps.cases.services.intake import warm

    warm()
