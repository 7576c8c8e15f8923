"""The web dashboard: server-rendered pages over the :class:`clm.Workspace` facade.

``clm serve`` mounts the router::

    from clm.web import create_router
    app.include_router(create_router(open_workspace, verify_admin_token, server_stats))

- ``open_workspace()`` returns a context manager giving a Workspace usable in the
  calling thread (page handlers run in FastAPI's thread pool);
- ``verify_admin_token(key)`` says whether ``Authorization: Bearer <key>`` is an
  admin API key (which also opens every page, for scripted checks);
- ``server_stats()`` (optional) returns the event API's health for the Data page.

Users sign in with accounts made by ``clm users create`` (:mod:`clm.web.users`);
sessions are HMAC-signed cookies (:mod:`clm.web.session`).
"""

from clm.web.router import create_router

__all__ = ["create_router"]
