import { BlockList, isIP } from 'node:net';

/** A CIDR block, or a single address as Vault takes it (`/32` or `/128`); undefined when malformed. */
export function parseCidr(value: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address, prefixText, extra] = value.split('/');
  const version = isIP(address ?? '');
  if (extra !== undefined || version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { address: address!, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

const blockLists = new Map<string, BlockList>();

/** Whether `address` (an IPv4-mapped IPv6 address counts as its IPv4 form) is in one of `cidrs`. */
export function addressInCidrs(address: string | undefined, cidrs: readonly string[]): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = isIP(plain);
  if (family === 0) return false;
  const key = cidrs.join(',');
  let list = blockLists.get(key);
  if (!list) {
    list = new BlockList();
    for (const cidr of cidrs) {
      const parsed = parseCidr(cidr);
      if (parsed) list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    if (blockLists.size > 1000) blockLists.clear();
    blockLists.set(key, list);
  }
  return list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
}
