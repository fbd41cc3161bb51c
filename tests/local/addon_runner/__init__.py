"""The add-on's job runner without Blender or a farm: the built zip's ``runner`` module (no bpy in
it) against a scripted farm (``tests/http_stub.py``) that answers ``/api/files/missing``, takes
uploads and makes jobs. What is sent is a real project (``tests/projects.py``: a shot, linked
libraries, textures), traced by the vendored client core with the BAT the venv has (the add-on
bundles its wheel). The UI path is driven as Blender would drive it: ``submit`` starts a worker
thread and registers a timer function, and the test calls that function by hand, as
``bpy.app.timers`` would on the main thread.

Covers the faults of a submission: a large project's upload progress and its cancel, a cancel
while a retry waits, a connection dropped mid-upload, a busy farm (429/503), a missing file
(refused, or sent as missing with the checkbox), and what the status line says in each case.
"""
