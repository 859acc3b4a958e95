"""The routes, one router per kind: the API's data (`data`), the pages (`pages`), `/docs` (`docs`).

`api.app.create_app` includes them; what they share (parameters, the database) is `api.params`.
"""
