/**
 * Numbered migrations: each runs once, in order, in one transaction, and `user_version` records the
 * last one applied. Never edit a migration that has shipped; add the next one.
 */
export const migrations: readonly string[] = [
  `CREATE TABLE keys (
     name TEXT PRIMARY KEY,
     value TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE operators (
     name TEXT PRIMARY KEY,
     password_hash TEXT NOT NULL,
     role TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
     keys TEXT NOT NULL DEFAULT '[]',
     totp_secret TEXT,
     created_at TEXT NOT NULL
   );
   CREATE TABLE servers (
     address TEXT PRIMARY KEY,
     weight INTEGER NOT NULL CHECK (weight >= 0),
     enabled INTEGER NOT NULL DEFAULT 1,
     secondary INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE settings (
     name TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );
   CREATE TABLE meta (
     name TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     detail TEXT NOT NULL DEFAULT '{}'
   );
   INSERT INTO meta (name, value) VALUES ('config_version', '0');`,
  // API sessions logged out, by the SHA-256 of their token, until the token would have expired anyway:
  // replicated, so a logout on one server is honoured by every server that verifies the token.
  `CREATE TABLE logouts (
     id TEXT PRIMARY KEY,
     expires_at INTEGER NOT NULL
   );`,
  // Devices through their life (issue 17). `devices`: what the cluster saw of each identity it admitted
  // (soft state of the acting primary, copied to the secondary; never in the configuration snapshot).
  // `device_rules`: an admin's decisions (revoked, approved, a name), configuration like keys. A key's
  // `previous` secret stays accepted until `previous_until` after a rotation, then names the rotation.
  `CREATE TABLE devices (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     grp TEXT NOT NULL,
     key_name TEXT NOT NULL,
     platform TEXT NOT NULL,
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL,
     last_address TEXT NOT NULL,
     server TEXT NOT NULL,
     pending INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE device_rules (
     id TEXT PRIMARY KEY,
     revoked INTEGER NOT NULL DEFAULT 0,
     approved INTEGER NOT NULL DEFAULT 0,
     name TEXT
   );
   ALTER TABLE keys ADD COLUMN previous TEXT;
   ALTER TABLE keys ADD COLUMN previous_until TEXT;`,
];
