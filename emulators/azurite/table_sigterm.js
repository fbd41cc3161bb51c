// Loaded with `node --require` before Azurite's Table service: SIGTERM closes it as SIGINT does.
//
// Azurite's Table service saves its LokiJS database every 5 s and on SIGINT, but not on SIGTERM
// (its Blob service handles both): a SIGTERM lost the last seconds of writes. The farm and the
// tests stop every child with SIGTERM.
"use strict";

process.once("SIGTERM", () => {
  process.emit("SIGINT", "SIGINT");
  // The close saves the database and ends the server; do not wait on anything else.
  setTimeout(() => process.exit(0), 3000).unref();
});
