/** A model registered once per connection: services build their models on the store's connection, any number of times. */
import type { Connection, Model, Schema } from 'mongoose';

export function modelOn<T>(conn: Connection, name: string, schema: Schema<T> | Schema): Model<T> {
  return (conn.models[name] as Model<T> | undefined) ?? conn.model<T>(name, schema as Schema<T>);
}
