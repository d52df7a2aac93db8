/**
 * The junk-connection flood of docs/security.md at a size that fits `npm test` on a shared 2-CPU
 * machine: the same real test as test/heavy/security-flood.heavy.ts (which `npm run test:heavy`
 * runs with 3,000 connections), with 600 junk connections held open for at least 20 s (the slow kinds' deadlines are 10 s).
 */
process.env.SB_FLOOD_CONNECTIONS ??= '600';
process.env.SB_FLOOD_SECONDS ??= '20';
process.env.SB_FLOOD_SESSIONS ??= '3';
await import('./heavy/security-flood.heavy.js');
