"""The Azure Functions entry point (Python v2 model).

- ``http_app_func``: the FastAPI app (webapp/app.py) behind one HTTP function, anonymous at the
  host because the app checks API keys itself, identically under uvicorn and in Azure.
- ``dead_letters_<major>_<minor>``: one per Blender pool (RENDERFARM_BLENDER_VERSIONS); each marks
  the chunk of every message dead-lettered on its pool's queue failed in its job's status.
- ``job_events``: what follows each job event: previews when a job completes, and one webhook
  delivery per subscribed webhook (functions/events.py).
- ``webhook_deliveries``: one signed POST per message of the webhook deliveries queue, retried
  through scheduled messages (functions/webhook_trigger.py).
- ``project_files_gc``: daily, deletes project files no job has named for 30 days
  (functions/gc_trigger.py).
- ``quote_expiry``: every five minutes, cancels scouted jobs whose quotes no one approved in
  time (functions/quote_expiry_trigger.py).
"""

import os

import azure.functions as func

from functions.dead_letter_trigger import CONNECTION, dead_letter_queues, handle_dead_letter
from functions.events import FUNCTION_NAME as EVENTS_FUNCTION
from functions.events import events_queue, handle_event_message
from functions.gc_trigger import FUNCTION_NAME as GC_FUNCTION
from functions.gc_trigger import SCHEDULE as GC_SCHEDULE
from functions.gc_trigger import collect_project_files
from functions.quote_expiry_trigger import FUNCTION_NAME as QUOTE_EXPIRY_FUNCTION
from functions.quote_expiry_trigger import SCHEDULE as QUOTE_EXPIRY_SCHEDULE
from functions.quote_expiry_trigger import expire_quotes
from functions.webhook_trigger import FUNCTION_NAME, deliveries_queue, handle_delivery
from webapp.app import create_app

app = func.AsgiFunctionApp(app=create_app(), http_auth_level=func.AuthLevel.ANONYMOUS)


def _register_dead_letters(name: str, queue: str) -> None:
    @app.function_name(name)
    @app.service_bus_queue_trigger(arg_name="message", queue_name=queue, connection=CONNECTION)
    def dead_letters(message: func.ServiceBusMessage) -> None:
        handle_dead_letter(message)


for _name, _queue in dead_letter_queues(os.environ).items():
    _register_dead_letters(_name, _queue)


@app.function_name(FUNCTION_NAME)
@app.service_bus_queue_trigger(
    arg_name="message", queue_name=deliveries_queue(os.environ), connection=CONNECTION
)
def webhook_deliveries(message: func.ServiceBusMessage) -> None:
    handle_delivery(message)


@app.function_name(EVENTS_FUNCTION)
@app.service_bus_queue_trigger(
    arg_name="message", queue_name=events_queue(os.environ), connection=CONNECTION
)
def job_events(message: func.ServiceBusMessage) -> None:
    handle_event_message(message)


@app.function_name(GC_FUNCTION)
@app.timer_trigger(arg_name="timer", schedule=GC_SCHEDULE, run_on_startup=False)
def project_files_gc(timer: func.TimerRequest) -> None:
    collect_project_files()


@app.function_name(QUOTE_EXPIRY_FUNCTION)
@app.timer_trigger(arg_name="timer", schedule=QUOTE_EXPIRY_SCHEDULE, run_on_startup=False)
def quote_expiry(timer: func.TimerRequest) -> None:
    expire_quotes()
