// Loaded with `node --require` before Azurite: every change to Azurite's metadata is on disk
// before Azurite answers the request that made it.
//
// Azurite keeps its metadata in LokiJS databases that it saves whole every 5 s, so a SIGKILL (or
// a crash) loses up to 5 s of writes it had already acknowledged: a frame the worker saw
// uploaded, a job's record. Azure Storage loses none, and the farm is built on that promise.
//
// Saving the whole database on every write would cost more the more it holds (5x at 3,000 blobs).
// Instead each change (insert, update, remove) is appended to a journal beside the database, one
// JSON line, before the request is answered; the write lands in the page cache, which a killed
// process cannot lose. Each whole save (Azurite's own, every 5 s) seals the journal it covers and
// deletes it once the save is on disk. On start, the journals left by a crash are replayed over the
// last save, in order, and folded into a fresh save.
"use strict";

const fs = require("fs");
const path = require("path");

const AZURITE = path.join(__dirname, "..", "..", "node_modules", "azurite", "dist", "src");
const Loki = require(require.resolve("lokijs", { paths: [AZURITE] }));
const STORES = [
  ["blob", "persistence", "LokiBlobMetadataStore.js"],
  ["common", "persistence", "LokiExtentMetadataStore.js"],
];

/** The journal of one Loki database file: `<db>.journal`, sealed as `<db>.journal.<n>`. */
class Journal {
  constructor(db, filename) {
    this.db = db;
    this.filename = filename;
    this.replaying = false;
    this.sealed = Math.max(0, ...this.sealedFiles().map(([n]) => n));
    this.fd = null;
  }

  append(collection, op, data) {
    if (this.replaying) {
      return;
    }
    if (this.fd === null) {
      this.fd = fs.openSync(this.filename + ".journal", "a");
    }
    fs.writeSync(this.fd, JSON.stringify({ c: collection, o: op, d: data }) + "\n");
  }

  /** Everything so far is in the save being serialized: new changes go to a new file. */
  seal() {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
    if (fs.existsSync(this.filename + ".journal")) {
      this.sealed += 1;
      fs.renameSync(this.filename + ".journal", `${this.filename}.journal.${this.sealed}`);
    }
    return this.sealed;
  }

  /** A save that sealed up to ``upTo`` is on disk: its journals are no longer needed. */
  drop(upTo) {
    for (const [n, file] of this.sealedFiles()) {
      if (n <= upTo) {
        fs.rmSync(file, { force: true });
      }
    }
  }

  sealedFiles() {
    const dir = path.dirname(this.filename);
    const prefix = path.basename(this.filename) + ".journal.";
    if (!fs.existsSync(dir)) {
      return [];
    }
    return fs
      .readdirSync(dir)
      .filter((name) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)))
      .map((name) => [Number(name.slice(prefix.length)), path.join(dir, name)])
      .sort((a, b) => a[0] - b[0]);
  }

  /** Apply the journals a crash left, oldest first, over the database as last saved. */
  replay() {
    const files = this.sealedFiles().map(([, file]) => file);
    if (fs.existsSync(this.filename + ".journal")) {
      files.push(this.filename + ".journal");
    }
    const ids = new Map(); // "<collection>:<journaled $loki>" -> $loki now
    this.replaying = true;
    try {
      for (const file of files) {
        for (const line of fs.readFileSync(file, "utf8").split("\n")) {
          if (line.trim()) {
            applyChange(this.db, JSON.parse(line), ids);
          }
        }
      }
    } finally {
      this.replaying = false;
    }
    return files.length;
  }
}

function applyChange(db, change, ids) {
  const collection = db.getCollection(change.c);
  if (collection === null) {
    return;
  }
  const key = (id) => `${change.c}:${id}`;
  const current = (id) => collection.get(ids.get(key(id)) ?? id);
  if (change.o === "i") {
    if (current(change.d.$loki)) {
      return; // the last save has it
    }
    const { $loki, meta, ...fields } = change.d;
    ids.set(key($loki), collection.insert(fields).$loki);
  } else if (change.o === "u") {
    const doc = current(change.d.$loki);
    if (doc) {
      collection.update({ ...change.d, $loki: doc.$loki, meta: doc.meta });
    }
  } else if (change.o === "r") {
    for (const id of change.d) {
      const doc = current(id);
      if (doc) {
        collection.remove(doc);
      }
    }
  }
}

const journals = new Map(); // database file -> Journal

function journalOf(collection) {
  for (const journal of journals.values()) {
    if (journal.db.collections.includes(collection)) {
      return journal;
    }
  }
  return null;
}

function idOf(doc) {
  return typeof doc === "number" ? doc : doc && doc.$loki;
}

// Changes, journaled once each: inserts of arrays go through insertOne, updates of arrays through
// update, and bulk removals (of arrays, and of a query's results) through removeBatchByPositions.
const { insertOne, update, remove, removeBatchByPositions } = Loki.Collection.prototype;
Loki.Collection.prototype.insertOne = function journaledInsert(doc, bulk) {
  const stored = insertOne.call(this, doc, bulk);
  const journal = stored && journalOf(this);
  if (journal) {
    journal.append(this.name, "i", this.get(stored.$loki));
  }
  return stored;
};
Loki.Collection.prototype.update = function journaledUpdate(doc) {
  const result = update.call(this, doc);
  const journal = !Array.isArray(doc) && journalOf(this);
  if (journal) {
    journal.append(this.name, "u", this.get(doc.$loki));
  }
  return result;
};
Loki.Collection.prototype.remove = function journaledRemove(doc) {
  const id = Array.isArray(doc) ? undefined : idOf(doc);
  const result = remove.call(this, doc);
  const journal = id !== undefined && journalOf(this);
  if (journal) {
    journal.append(this.name, "r", [id]);
  }
  return result;
};
Loki.Collection.prototype.removeBatchByPositions = function journaledRemoval(positions) {
  const ids = positions.map((position) => this.data[position].$loki);
  const result = removeBatchByPositions.call(this, positions);
  const journal = ids.length > 0 && journalOf(this);
  if (journal) {
    journal.append(this.name, "r", ids);
  }
  return result;
};

// A whole save seals the journal it covers; once on disk, that journal goes.
const { serialize } = Loki.prototype;
const sealedBySave = new Map(); // database file -> the last journal its pending save covers
Loki.prototype.serialize = function sealingSerialize(options) {
  const text = serialize.call(this, options);
  const journal = journals.get(this.filename);
  if (journal) {
    sealedBySave.set(this.filename, journal.seal());
  }
  return text;
};
const { saveDatabase: adapterSave } = Loki.LokiFsAdapter.prototype;
Loki.LokiFsAdapter.prototype.saveDatabase = function droppingSave(dbname, dbstring, callback) {
  const upTo = sealedBySave.get(dbname);
  return adapterSave.call(this, dbname, dbstring, (error) => {
    const journal = journals.get(dbname);
    if (!error && journal && upTo !== undefined) {
      journal.drop(upTo);
    }
    callback(error);
  });
};

function save(db) {
  return new Promise((resolve, reject) => {
    db.saveDatabase((error) => (error ? reject(error) : resolve()));
  });
}

// Each store journals its database from the moment it has loaded it, after replaying what a
// crash left.
for (const parts of STORES) {
  const Store = require(path.join(AZURITE, ...parts)).default;
  const { init } = Store.prototype;
  Store.prototype.init = async function journaledInit(...args) {
    await init.apply(this, args);
    const file = this.db.filename;
    const journal = new Journal(this.db, file);
    journals.set(file, journal);
    if (journal.replay() > 0) {
      await save(this.db);
    }
  };
}
