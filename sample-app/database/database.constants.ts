/** Injection token of the database file's path. */
export const DATABASE_FILE = 'shop:database-file';
