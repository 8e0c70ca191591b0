/** Who may approve: level P7 or above, or M4 or above (configurable), as seed 003 sets it. */
import { z } from 'zod';

export const qualificationSchema = z
  .object({
    minP: z.number().int().min(1).max(10).default(7),
    minM: z.number().int().min(1).max(6).default(4),
  })
  .strict();

export type Qualification = z.infer<typeof qualificationSchema>;

export const DEFAULT_QUALIFICATION: Qualification = { minP: 7, minM: 4 };

export function isQualified(level: string, q: Qualification): boolean {
  const m = /^([PM])(\d+)$/.exec(level);
  if (!m) return false;
  const n = Number(m[2]);
  return m[1] === 'P' ? n >= q.minP : n >= q.minM;
}

export function describeQualification(q: Qualification): string {
  return `P${q.minP} or M${q.minM} and above`;
}
