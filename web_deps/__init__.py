"""What the API (``functions/``) and the dashboard (``dashboard/``) both ask of the process:
its services, built once on first use (``lazy_services``), and narrow views of them as FastAPI
dependencies (``services``). Neither side imports the other; ``webapp/`` composes the two."""
