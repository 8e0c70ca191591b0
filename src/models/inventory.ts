/** Hosts, projects and the products collection `conf` (seeds 000, 004), loaded from the catalog. */
import { Schema, type Connection, type InferSchemaType, type Model } from 'mongoose';
import { modelOn } from './model-on.js';
import { settingModel, type Setting } from './settings.js';

export const hostSchema = new Schema(
  {
    name: { type: String, required: true, unique: true },
    address: { type: String, required: true },
    port: { type: Number, default: 22 },
    /** Pinned host key, as OpenSSH prints it: `SHA256:<base64>`. */
    hostKey: { type: String, required: true },
    project: { type: String, default: null, index: true },
    /** App category (seed 004). */
    app: { type: String, default: null, index: true },
    env: { type: String, default: null, index: true },
    labels: { type: Map, of: String, default: {} },
    /** sshd's AuthorizedKeysFile on this host, when it differs from AUTHORIZED_KEYS_FILE. */
    authorizedKeysFile: { type: String, default: null },
    /** The sshd_config the daily check reads (`sshd -T -f`), when not sshd's default. */
    sshdConfig: { type: String, default: null },
    /** Catalog switch: false takes the host out of service. */
    enabled: { type: Boolean, default: true },
    /** Enabled and answering the bot's key at the last check. */
    active: { type: Boolean, default: true },
    inactiveReason: { type: String, default: null },
    checkedAt: { type: Date, default: null },
    /** Removed from the catalog: kept for history, never deleted. */
    archived: { type: Boolean, default: false },
  },
  { collection: 'hosts', versionKey: false, timestamps: true },
);

export const projectSchema = new Schema(
  {
    name: { type: String, required: true, unique: true },
    organization: { type: String, default: null },
    description: { type: String, default: '' },
    hosts: { type: [String], default: [] },
    /** personIds */
    people: { type: [String], default: [] },
    contacts: { type: [String], default: [] },
    archived: { type: Boolean, default: false },
  },
  { collection: 'projects', versionKey: false, timestamps: true },
);

/** Exactly the fields of seed 000's `db.conf.insert({...})`. */
export const productSchema = new Schema(
  {
    prod_name: { type: String, required: true, unique: true },
    init_sls: { type: String, default: '' },
    templates: { type: String, default: '' },
  },
  { collection: 'conf', versionKey: false },
);

export type Host = InferSchemaType<typeof hostSchema>;
export type Project = InferSchemaType<typeof projectSchema>;
export type Product = InferSchemaType<typeof productSchema>;

export interface InventoryModels {
  Host: Model<Host>;
  Project: Model<Project>;
  Product: Model<Product>;
  Setting: Model<Setting>;
}

export function inventoryModels(conn: Connection): InventoryModels {
  return {
    Host: modelOn<Host>(conn, 'Host', hostSchema),
    Project: modelOn<Project>(conn, 'Project', projectSchema),
    Product: modelOn<Product>(conn, 'Product', productSchema),
    Setting: settingModel(conn),
  };
}
