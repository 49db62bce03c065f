"""``vrt serve``: a local web app to search one index with one model (the ``serve`` extra).

    pip install 'vrt[serve]'
    vrt serve --index db.index.npz --checkpoint runs/demo/best.pt --videos footage/

:class:`~vrt.serve.service.SearchService` does the work (search by id or by video, thumbnails)
and needs no web framework; :func:`~vrt.serve.app.create_app` puts it behind FastAPI, which
is imported only by that module. The routes are documented in ``docs/retrieval.md``.
"""
