/** Slash command names, action ids and callback ids, shared by listeners and blocks/. */
export const Commands = {
  opsgate: '/opsgate',
} as const;

export const Actions = {
  homeRefresh: 'home_refresh',
} as const;
