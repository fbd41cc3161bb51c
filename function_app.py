"""The Azure Functions entry point (Python v2 model).

- ``http_app_func``: the FastAPI app (functions/app.py) behind one HTTP function, anonymous at the
  host because the app checks API keys itself, identically under uvicorn and in Azure.
- ``dead_letters``: marks the chunk of each dead-lettered message failed in its job's status.
"""

import azure.functions as func

from functions.app import create_app
from functions.dead_letter_trigger import CONNECTION, QUEUE, handle_dead_letter

app = func.AsgiFunctionApp(app=create_app(), http_auth_level=func.AuthLevel.ANONYMOUS)


@app.function_name("dead_letters")
@app.service_bus_queue_trigger(arg_name="message", queue_name=QUEUE, connection=CONNECTION)
def dead_letters(message: func.ServiceBusMessage) -> None:
    handle_dead_letter(message)
