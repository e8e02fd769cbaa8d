/**
 * `FULL=1 npm test` runs every case of the heaviest tables (e.g. every zoo architecture at 224x224, B3
 * included); by default they run a representative subset and list the rest as skipped. CI runs FULL=1.
 */
export const FULL = process.env.FULL === '1';
