"""The trust-and-safety console: live campaigns, campaign views, the review queue, actions in force,
the policy and the transparency report, in the browser, served by the api role under /console/.

Pages are rendered on the server (Jinja2, autoescaped); the only script is static/console.js (live
updates over server-sent events, sorting and filtering, revealing blurred text), so the
Content-Security-Policy allows no inline script and nothing from another origin. Who may do what
is checked here, on the server, for every request (sessions.py); what the pages show is computed
in views.py; what a reviewer does goes through review.py.
"""

from __future__ import annotations

from abusewatch.api.console.pages import CONSOLE_PUBLISHER, CONSOLE_STORE, add_console

__all__ = ["CONSOLE_PUBLISHER", "CONSOLE_STORE", "add_console"]
