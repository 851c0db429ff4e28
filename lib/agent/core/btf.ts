/**
 * A reader of the kernel's BTF (/sys/kernel/btf/vmlinux), for the two questions the agent asks
 * before choosing a recorder's route: does a type have a member (a struct's layout changed between
 * kernels: kernel_cap_t is `{ u64 val; }` from Linux 6.3, `{ __u32 cap[2]; }` before), and is a
 * function known to BTF (what fentry attaches by). The format is stable since Linux 5.2; see the
 * kernel's Documentation/bpf/btf.rst. Pure: it reads a buffer.
 */

const MAGIC = 0xeb9f;
const KIND = {
  INT: 1,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

/** Bytes that follow a type's 12-byte header, by kind (vlen: the count in its info word). */
function trailing(kind: number, vlen: number): number {
  switch (kind) {
    case KIND.INT:
    case KIND.VAR:
    case KIND.DECL_TAG:
      return 4;
    case KIND.ARRAY:
      return 12;
    case KIND.STRUCT:
    case KIND.UNION:
    case KIND.DATASEC:
    case KIND.ENUM64:
      return 12 * vlen;
    case KIND.ENUM:
    case KIND.FUNC_PROTO:
      return 8 * vlen;
    default:
      return 0;
  }
}

interface BtfType {
  kind: number;
  name: string;
  /** The referenced type (typedef, const, …). */
  type: number;
  /** Struct and union members' names. */
  members?: string[];
}

export class Btf {
  /** Index 0 is "void". */
  private readonly types: (BtfType | undefined)[] = [undefined];
  private readonly byName = new Map<string, number[]>();

  constructor(data: Buffer) {
    if (data.length < 24 || data.readUInt16LE(0) !== MAGIC) {
      throw new Error('not BTF (no 0xeB9F magic, or a big-endian kernel)');
    }
    const hdrLen = data.readUInt32LE(4);
    const typeOff = hdrLen + data.readUInt32LE(8);
    const typeEnd = typeOff + data.readUInt32LE(12);
    const strOff = hdrLen + data.readUInt32LE(16);
    const str = (off: number) => {
      const start = strOff + off;
      return data.toString('latin1', start, data.indexOf(0, start));
    };
    for (let at = typeOff; at + 12 <= typeEnd;) {
      const name = str(data.readUInt32LE(at));
      const info = data.readUInt32LE(at + 4);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const t: BtfType = { kind, name, type: data.readUInt32LE(at + 8) };
      if (kind === KIND.STRUCT || kind === KIND.UNION) {
        t.members = [];
        for (let i = 0; i < vlen; i++) t.members.push(str(data.readUInt32LE(at + 12 + 12 * i)));
      }
      this.types.push(t);
      if (name) this.byName.set(name, [...(this.byName.get(name) ?? []), this.types.length - 1]);
      at += 12 + trailing(kind, vlen);
    }
  }

  /**
   * The members of a struct or union named `name`, or of the one a typedef of that name stands for
   * ("struct kernel_cap_struct" or "kernel_cap_t"); undefined when BTF has no such type.
   */
  members(name: string): string[] | undefined {
    const bare = name.replace(/^(struct|union)\s+/, '');
    for (const id of this.byName.get(bare) ?? []) {
      const t = this.resolve(id);
      if (t?.members) return t.members;
    }
    return undefined;
  }

  hasFunction(name: string): boolean {
    return (this.byName.get(name) ?? []).some((id) => this.types[id]?.kind === KIND.FUNC);
  }

  /** Through typedefs and qualifiers to the struct or union itself. */
  private resolve(id: number): BtfType | undefined {
    for (let hops = 0; hops < 16; hops++) {
      const t = this.types[id];
      if (!t) return undefined;
      const through: number[] = [KIND.TYPEDEF, KIND.CONST, KIND.VOLATILE, KIND.RESTRICT, KIND.TYPE_TAG];
      if (!through.includes(t.kind)) return t;
      id = t.type;
    }
    return undefined;
  }
}
