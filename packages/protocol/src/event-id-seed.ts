/**
 * @module event-id-seed
 * `x-inngest-event-id-seed: <unix ms>,<base64 of 10 bytes>` (inngest-protocol §7.4): the
 * SDK sends it so a retried request yields the same event ids. Event i (1-based) gets the
 * ULID whose time is `ms` and whose 80 random bits are the seed's bytes with the last four
 * read as a big-endian uint32 plus i (wrapping).
 */

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function base32(bytes: Uint8Array, length: number): string {
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = "";
  for (let i = length - 1; i >= 0; i--) out += crockford[Number((bits >> BigInt(i * 5)) & 31n)];
  return out;
}

/** The `count` internal event ids a valid seed header gives, or undefined for an absent or invalid one. */
export function idsFromSeed(header: string | undefined, count: number): string[] | undefined {
  if (!header) return undefined;
  const [msText, b64] = header.split(",");
  const ms = Number(msText);
  if (!Number.isInteger(ms) || ms <= 0 || ms >= 2 ** 48 || !b64) return undefined;
  const seed = Buffer.from(b64, "base64");
  if (seed.length !== 10) return undefined;
  const time = new Uint8Array(6);
  for (let i = 0; i < 6; i++) time[5 - i] = Math.floor(ms / 256 ** i) % 256;
  const counter = seed.readUInt32BE(6);
  return Array.from({ length: count }, (_, i) => {
    const entropy = Buffer.from(seed);
    entropy.writeUInt32BE((counter + i + 1) % 2 ** 32, 6);
    return base32(time, 10) + base32(entropy, 16);
  });
}
