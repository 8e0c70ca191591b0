/**
 * Personal API tokens (issue 12): a token acts as its owner over `/api/v1/`. Only the SHA-256
 * of the token is stored (`hash`, unique); the token itself is shown once, when it is made. A
 * token is in force while it is not revoked, not expired and its owner is still in the
 * directory; revoked tokens are kept (never deleted) for the audit trail.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { modelOn } from './model-on.js';

export const TOKEN_SCOPES = ['read', 'write'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export interface ApiToken {
  /** The id people see and revoke by: `AT-` and 10 hex digits (not a secret). */
  tokenId: string;
  name: string;
  /** personId of the owner: the token acts as this person, with their permissions now. */
  owner: string;
  scope: TokenScope;
  /** SHA-256 of the token, hex. */
  hash: string;
  expiresAt: Date;
  revoked: boolean;
  revokedAt: Date | null;
  revokedBy: string | null;
  revokeReason: string | null;
  lastUsedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const apiTokenSchema = new Schema<ApiToken>(
  {
    tokenId: { type: String, required: true, unique: true },
    name: { type: String, required: true },
    owner: { type: String, required: true, index: true },
    scope: { type: String, enum: TOKEN_SCOPES, required: true },
    hash: { type: String, required: true, unique: true },
    expiresAt: { type: Date, required: true },
    revoked: { type: Boolean, default: false },
    revokedAt: { type: Date, default: null },
    revokedBy: { type: String, default: null },
    revokeReason: { type: String, default: null },
    lastUsedAt: { type: Date, default: null },
  },
  { collection: 'api_tokens', versionKey: false, timestamps: true },
);

export type ApiTokenModel = Model<ApiToken>;

export function apiTokenModel(conn: Connection): ApiTokenModel {
  return modelOn<ApiToken>(conn, 'ApiToken', apiTokenSchema);
}
