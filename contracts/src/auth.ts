/** The bearer token's `scope` entry that lets its holder act on any user's subscriptions. */
export const ADMIN_SCOPE = 'subscriptions:admin';
