/**
 * RBAC as seed 001 defines it: resource types (global 10, organization 20, inventory 30,
 * project 40, template 50), roles `use` (100) and `admin` (1000) on a resource, teams inside
 * organizations. Nothing is deleted: teams and organizations are archived.
 */
import { Schema, type Connection, type InferSchemaType, type Model } from 'mongoose';
import { modelOn } from './model-on.js';

export const ResourceType = { global: 10, organization: 20, inventory: 30, project: 40, template: 50 } as const;
export type ResourceTypeName = keyof typeof ResourceType;
export const Role = { use: 100, admin: 1000 } as const;
export type RoleName = keyof typeof Role;

export const organizationSchema = new Schema(
  {
    name: { type: String, required: true, unique: true },
    archived: { type: Boolean, default: false },
  },
  { collection: 'organizations', versionKey: false, timestamps: true },
);

export const teamSchema = new Schema(
  {
    name: { type: String, required: true, unique: true },
    organization: { type: String, default: null },
    /** personIds */
    members: { type: [String], default: [] },
    archived: { type: Boolean, default: false },
  },
  { collection: 'teams', versionKey: false, timestamps: true },
);

export const roleGrantSchema = new Schema(
  {
    subjectKind: { type: String, enum: ['person', 'team'], required: true },
    /** personId or team name */
    subjectId: { type: String, required: true },
    resourceType: { type: Number, enum: Object.values(ResourceType), required: true },
    /** '*' for the global resource */
    resourceId: { type: String, required: true },
    role: { type: Number, enum: Object.values(Role), required: true },
    grantedBy: { type: String, required: true },
  },
  { collection: 'role_grants', versionKey: false, timestamps: true },
);
roleGrantSchema.index({ subjectKind: 1, subjectId: 1, resourceType: 1, resourceId: 1, role: 1 }, { unique: true });

export type Organization = InferSchemaType<typeof organizationSchema>;
export type Team = InferSchemaType<typeof teamSchema>;
export type RoleGrant = InferSchemaType<typeof roleGrantSchema>;

export interface RbacModels {
  Organization: Model<Organization>;
  Team: Model<Team>;
  RoleGrant: Model<RoleGrant>;
}

export function rbacModels(conn: Connection): RbacModels {
  return {
    Organization: modelOn<Organization>(conn, 'Organization', organizationSchema),
    Team: modelOn<Team>(conn, 'Team', teamSchema),
    RoleGrant: modelOn<RoleGrant>(conn, 'RoleGrant', roleGrantSchema),
  };
}
