import { BlockList, isIP } from 'node:net';
import { parseCidr } from './kubernetes/params.js';

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

/** The IP of a gRPC peer string (`1.2.3.4:5678`, `[::1]:5678`, `ipv4:…`); undefined when there is none. */
export function peerIp(peer: string | undefined): string | undefined {
  if (!peer) return undefined;
  const bare = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(bare);
  if (bracketed) return bracketed[1];
  const v4 = /^([^:]+):\d+$/.exec(bare);
  if (v4 && isIP(v4[1]!)) return v4[1];
  return isIP(bare) ? bare : undefined;
}
