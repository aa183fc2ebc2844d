/**
 * AMD GPU families that do not come back from a reset between VMs (the "AMD reset bug") and that the
 * out-of-tree vendor-reset module resets instead. Device ids as listed by vendor-reset's device table
 * (github.com/gnif/vendor-reset, src/device-db.h at ca6a270); vendor 0x1002 (ATI).
 */
const AMD_ATI = 0x1002;

const FAMILIES: { family: string; ids: number[] }[] = [
  { family: 'Polaris 10', ids: [0x67c0, 0x67c1, 0x67c2, 0x67c4, 0x67c7, 0x67c8, 0x67c9, 0x67ca, 0x67cc, 0x67cf, 0x67d0, 0x67df, 0x6fdf] },
  { family: 'Polaris 11', ids: [0x67e0, 0x67e1, 0x67e3, 0x67e7, 0x67e8, 0x67e9, 0x67eb, 0x67ef, 0x67ff] },
  { family: 'Polaris 12', ids: [0x6980, 0x6981, 0x6985, 0x6986, 0x6987, 0x6995, 0x6997, 0x699f] },
  { family: 'Vega 10', ids: [0x6860, 0x6861, 0x6862, 0x6863, 0x6864, 0x6867, 0x6868, 0x6869, 0x686a, 0x686b, 0x686c, 0x686d, 0x686e, 0x686f, 0x687f] },
  { family: 'Vega 20', ids: [0x66a0, 0x66a1, 0x66a2, 0x66a3, 0x66a4, 0x66a7, 0x66af] },
  { family: 'Arcturus (Instinct MI100)', ids: [0x738c] },
  { family: 'Navi 10', ids: [0x1681, 0x7310, 0x7312, 0x7318, 0x7319, 0x731a, 0x731b, 0x731e, 0x731f] },
  { family: 'Navi 12', ids: [0x7360, 0x7362] },
  { family: 'Navi 14', ids: [0x7340, 0x7341, 0x7347, 0x734f] },
];

const BY_ID = new Map<number, string>(FAMILIES.flatMap(({ family, ids }) => ids.map((id) => [id, family] as [number, string])));

/** The reset-bug family of a GPU ("Navi 10"), or null when it is not a known one. */
export function resetBugFamily(vendorId: number, deviceId: number): string | null {
  return vendorId === AMD_ATI ? (BY_ID.get(deviceId) ?? null) : null;
}
