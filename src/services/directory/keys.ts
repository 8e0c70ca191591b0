/**
 * The SSH keys that stand for a person: the directory's, or, while the directory lists none,
 * the ones imported from the old bastion. The directory always wins once it lists a key.
 */
export function keysOf(p: { sshKeys?: string[] | null; importedSshKeys?: string[] | null }): string[] {
  const listed = p.sshKeys ?? [];
  return listed.length > 0 ? listed : (p.importedSshKeys ?? []);
}
