// Loaded with `node --require` before Azurite: a request that changes Azurite's metadata is
// answered only once the change is on disk.
//
// Azurite keeps its metadata in LokiJS databases that save every 5 s, so a SIGKILL (or a crash)
// loses up to 5 s of writes it had already acknowledged: a frame the worker saw uploaded, a job's
// record. Azure Storage loses none, and the farm is built on that promise. Here every method of
// Azurite's Loki stores that leaves a database dirty saves it before its promise resolves; LokiJS
// coalesces saves that overlap (throttledSaves), and each save is a write and a rename.
"use strict";

const path = require("path");

const AZURITE = path.join(__dirname, "..", "..", "node_modules", "azurite", "dist", "src");
const STORES = [
  ["blob", "persistence", "LokiBlobMetadataStore.js"],
  ["common", "persistence", "LokiExtentMetadataStore.js"],
];

function save(db) {
  return new Promise((resolve, reject) => {
    db.saveDatabase((error) => (error ? reject(error) : resolve()));
  });
}

function saveAfterEachChange(Store) {
  for (const name of Object.getOwnPropertyNames(Store.prototype)) {
    const original = Object.getOwnPropertyDescriptor(Store.prototype, name).value;
    if (name === "constructor" || typeof original !== "function") {
      continue;
    }
    Store.prototype[name] = function durable(...args) {
      const result = original.apply(this, args);
      if (!(result instanceof Promise)) {
        return result;
      }
      return result.then(async (value) => {
        if (this.db && this.db.autosaveDirty()) {
          await save(this.db);
        }
        return value;
      });
    };
  }
}

for (const parts of STORES) {
  saveAfterEachChange(require(path.join(AZURITE, ...parts)).default);
}
