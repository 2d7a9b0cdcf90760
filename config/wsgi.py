import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# A missing key file over encrypted data: refuse to serve, naming the file to restore (core.keys), rather than
# answer every page that needs a key with an error.
from civicgrid.foundation.core import keys  # noqa: E402

keys.refuse_to_start_without_keys()

# This process's heartbeat (about once a minute, from a thread): `civicgrid restore` refuses while it is fresh.
from civicgrid.foundation.core import heartbeat  # noqa: E402

heartbeat.start_web_beat()

if os.environ.get("CIVICGRID_WARM_INTAKE", "1") not in {"0", "false", "no"}:
    # Load the locator index and the text router's model now, not in the first report a worker answers.
    from civicgrid.apps.cases.services.intake import warm

    warm()
