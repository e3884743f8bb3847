/*
 * The intranet's search worker, in place of Material for MkDocs' own.
 *
 * The theme starts this script as its search worker and speaks to it in four
 * messages: SETUP (0) with search/search_index.json, answered by READY (1);
 * QUERY (2) with the text of the search box, answered by RESULT (3) with
 * {items: [[item, ...], ...], suggest?: [word]}, one inner list per page. An
 * item is {location, title, text, score, terms, tags?}; the theme inserts
 * title, text and tags as HTML, so every string from the index is escaped
 * here and only <mark> is added. Instead of one big index, the worker fetches
 * the few small files a query needs (generator/search_index.py writes them,
 * generator/search_format.py documents them) and keeps them for the next query.
 *
 * Words are found as the index found them: NFKD, lower case, no combining
 * marks, runs of letters and digits. Every word must match (AND); the last
 * one, while it is being typed, matches as a prefix. When no page has every
 * word, pages with the most of them are shown, the others listed as missing.
 * Order: words matched, words in the title, newer date.
 *
 * RESULT holds the first `results` documents; the theme counts what it is
 * given, so the answer also says how many documents match: `total`, `exact`
 * (false when `total` is only a lower bound: a word being typed stood for more
 * words than one query fetches, or for title words only, at one or two
 * characters), `shown`, and, when more remain, `more`: a MessagePort. Any
 * message sent to it is answered with the next page, {items, shown, total,
 * exact}; a new query closes it. search-results.js reads these beside the
 * theme (from its component$ observable), shows the count and pages on.
 */
"use strict"

const SETUP = 0, READY = 1, QUERY = 2, RESULT = 3
const WORD = /[\p{L}\p{N}]+/gu
const TYPED = /[\p{L}\p{N}\p{M}]+/gu
const MARKS = /\p{M}/gu
const TEXT = new TextDecoder()
const UTF8 = new TextEncoder()
const MAX_QUERY_WORDS = 8
const WINDOW = 240 // characters of excerpt shown around the first match

/* Files live beside the theme's assets: <site>/assets/javascripts/workers/this.js */
const site = new URL("../../../", self.location.href)

let conf = null
let stopwords = new Set()
let initials = new Set()
let suggestions = false
let latest = 0
const fetched = new Map()

/* ------------------------------------------------------------------------- */

function fold(value) {
  return value.normalize("NFKD").toLowerCase().replace(MARKS, "")
}

function escapeHTML(value) {
  return value.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}

function fileName(word) {
  let name = ""
  for (const c of word)
    name += /[a-z0-9]/.test(c) ? c : `_${c.codePointAt(0).toString(16)}_`
  return name
}

const CRC = new Int32Array(256).map((_, n) => {
  for (let k = 0; k < 8; k++)
    n = n & 1 ? 0xEDB88320 ^ (n >>> 1) : n >>> 1
  return n
})

function crc32(value) {
  let crc = -1
  for (const byte of UTF8.encode(value))
    crc = CRC[(crc ^ byte) & 0xFF] ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}

/* ------------------------------------------------------------------------- */

/* One fetch per file for the worker's life; a missing file is null. */
function load(path, json = false) {
  let promise = fetched.get(path)
  if (!promise) {
    promise = fetch(new URL(path, site), { cache: "no-cache" })
      .then(res => res.ok ? (json ? res.json() : res.arrayBuffer()) : null)
      .then(data => data instanceof ArrayBuffer ? new Uint8Array(data) : data)
      .catch(() => null)
    fetched.set(path, promise)
  }
  return promise
}

function memo(key, make) {
  let value = fetched.get(key)
  if (!value)
    fetched.set(key, value = make())
  return value
}

class Reader {
  constructor(bytes) { this.bytes = bytes; this.at = 0 }
  get done() { return this.at >= this.bytes.length }
  byte() { return this.bytes[this.at++] }
  varint() {
    let value = 0, scale = 1, byte
    do {
      byte = this.bytes[this.at++]
      value += (byte & 0x7F) * scale
      scale *= 128
    } while (byte & 0x80)
    return value
  }
  text(length) {
    const value = TEXT.decode(this.bytes.subarray(this.at, this.at + length))
    this.at += length
    return value
  }
  /* An id list: 3 bytes an id, or block headers (high byte, count) and the low 16 bits of each id */
  ids() {
    const head = this.varint()
    const b = this.bytes
    const ids = []
    if (head & 1) {
      for (let n = (head - 1) / 2; n > 0; n--, this.at += 3)
        ids.push(b[this.at] | b[this.at + 1] << 8 | b[this.at + 2] << 16)
      return ids
    }
    const blocks = []
    for (let n = head / 2; n > 0; n--)
      blocks.push([this.byte(), this.varint()])
    for (const [high, count] of blocks)
      for (let i = 0; i < count; i++, this.at += 2)
        ids.push(high * 65536 + (b[this.at] | b[this.at + 1] << 8))
    return ids
  }
}

/* A dictionary file: the keys that have files (in 1-character files), then entries */
function dictionary(key) {
  return memo(`d:${key}`, async () => {
    const bytes = await load(`search/d/${fileName(key)}.bin`)
    const found = { keys: new Set(), entries: [] }
    if (!bytes)
      return found
    const r = new Reader(bytes)
    for (let n = r.varint(); n > 0; n--)
      found.keys.add(r.text(r.byte()))
    while (!r.done) {
      const word = r.text(r.byte())
      const flags = r.byte()
      const entry = {
        word, title: flags & 3, body: flags >> 2 & 3,
        titles: r.varint(), bodies: r.varint()
      }
      if (entry.title === 1) entry.titleIds = r.ids()
      if (entry.body === 1) entry.bodyIds = r.ids()
      found.entries.push(entry)
    }
    return found
  })
}

/*
 * Entries of the words starting with `prefix`. An initial's file lists the
 * 2-character keys under it, and the 3-character ones where a 2-character
 * prefix has too many words for one file; a file holds every word starting
 * with its key, or for an initial and a split prefix, the most frequent.
 */
async function entries(prefix) {
  const chars = [...prefix]
  if (!initials.has(chars[0]))
    return []
  let found = await dictionary(chars[0])
  if (chars.length > 1) {
    const three = chars.slice(0, 3).join(""), two = chars.slice(0, 2).join("")
    const key = found.keys.has(three) ? three : found.keys.has(two) ? two : null
    if (!key)
      return []
    found = await dictionary(key)
  }
  return found.entries.filter(e => e.word.startsWith(prefix))
}

function shard(n) {
  return memo(`s:${n}`, async () => {
    const bytes = await load(`search/s/${n}.bin`)
    const lists = new Map()
    if (!bytes)
      return lists
    const r = new Reader(bytes)
    const heads = []
    for (let n = r.varint(); n > 0; n--) {
      const kind = String.fromCharCode(r.byte())
      heads.push([kind + r.text(r.byte()), r.varint()])
    }
    for (const [name, length] of heads) {
      lists.set(name, r.bytes.subarray(r.at, r.at + length))
      r.at += length
    }
    return lists
  })
}

async function ids(kind, entry) {
  const place = kind === "t" ? entry.title : entry.body
  if (place === 1)
    return kind === "t" ? entry.titleIds : entry.bodyIds
  if (place === 2) {
    const lists = await shard(crc32(kind + entry.word) % conf.shards)
    const bytes = lists.get(kind + entry.word)
    return bytes ? new Reader(bytes).ids() : []
  }
  if (place === 3) {
    const bytes = await load(`search/p/${kind}${fileName(entry.word)}.bin`)
    return bytes ? new Reader(bytes).ids() : []
  }
  return []
}

function ranking() {
  return memo("r", async () => {
    const bytes = await load("search/r.bin")
    const days = new Map()
    if (bytes) {
      const r = new Reader(bytes)
      const all = r.ids()
      all.forEach((id, i) => days.set(id, bytes[r.at + 2 * i] | bytes[r.at + 2 * i + 1] << 8))
    }
    return days
  })
}

function metadata(id) {
  return memo(`m:${Math.floor(id / 2 ** conf.meta_shift)}`, async () => {
    const rows = await load(`search/m/${Math.floor(id / 2 ** conf.meta_shift)}.json`, true)
    return new Map((rows || []).map(row => [row[0], row]))
  }).then(rows => rows.get(id))
}

/* ------------------------------------------------------------------------- */

/* The words of a query: {key (as typed, for the theme), word (as indexed), prefix} */
function parse(query) {
  const typed = [...query.matchAll(TYPED)]
  const words = []
  const seen = new Set()
  typed.forEach((match, i) => {
    const end = match.index + match[0].length
    const open = i === typed.length - 1 && /^\**$/.test(query.slice(end))
    const parts = fold(match[0]).match(WORD) || []
    parts.forEach((word, j) => {
      const prefix = open && j === parts.length - 1
      if (word.length > conf.max_term || (!prefix && stopwords.has(word)) || seen.has(word))
        return
      seen.add(word)
      words.push({ key: parts.length === 1 ? match[0].toLowerCase() : word, word, prefix })
    })
  })
  return words.slice(0, MAX_QUERY_WORDS)
}

/*
 * The entries a query word stands for: itself, or for a prefix the words it
 * starts. All of them when their lists fit the limits (`expand` lists
 * fetched, `budget` ids; lists inline in the dictionary are free): the count
 * is then exact. Otherwise the most frequent within the limits, until they
 * cover `enough` pages. A prefix of one or two characters looks at titles
 * only (its files hold the most frequent words only).
 * `complete`: the chosen entries' lists hold every document that has the
 * word, or a word it starts.
 */
async function expand(q) {
  const all = await entries(q.word)
  if (!q.prefix)
    return { chosen: all.filter(e => e.word === q.word), all, titles: false, complete: true }
  const titles = [...q.word].length < 3
  const lists = e => (e.title > 1) + (!titles && e.body > 1)
  const cost = e => (e.title > 1 ? e.titles : 0) + (!titles && e.body > 1 ? e.bodies : 0)
  const sum = f => all.reduce((n, e) => n + f(e), 0)
  if (!titles && sum(lists) <= conf.expand && sum(cost) <= conf.budget)
    return { chosen: all, all, titles, complete: true }
  all.sort((a, b) =>
    (b.word === q.word) - (a.word === q.word) ||
    (b.titles + b.bodies) - (a.titles + a.bodies) ||
    (a.word < b.word ? -1 : 1))
  const chosen = []
  let budget = conf.budget, left = conf.expand, covered = 0
  for (const e of all) {
    if (covered >= conf.enough)
      break
    if (chosen.length && (cost(e) > budget || lists(e) > left))
      continue
    chosen.push(e)
    budget -= cost(e)
    left -= lists(e)
    covered += titles ? e.titles : e.titles + e.bodies
  }
  return { chosen, all, titles, complete: !titles && chosen.length === all.length }
}

/* id -> whether one of the entries' words is in the page's title */
async function pages({ chosen, titles: only }) {
  const found = new Map()
  await Promise.all(chosen.map(async e => {
    const [titles, bodies] = await Promise.all([ids("t", e), only ? [] : ids("b", e)])
    for (const id of bodies)
      if (!found.has(id))
        found.set(id, false)
    for (const id of titles)
      found.set(id, true)
  }))
  return found
}

function matcher(words) {
  return value => {
    const folded = fold(value)
    return words.some(q => q.prefix ? folded.startsWith(q.word) : folded === q.word)
  }
}

/* Escape `text`, marking the words that match */
function highlight(text, matches) {
  let html = "", last = 0
  for (const m of text.matchAll(TYPED))
    if (matches(m[0])) {
      html += escapeHTML(text.slice(last, m.index)) + "<mark>" + escapeHTML(m[0]) + "</mark>"
      last = m.index + m[0].length
    }
  return html + escapeHTML(text.slice(last))
}

/* A window of the excerpt around its first match */
function excerpt(text, matches) {
  let first = -1
  for (const m of text.matchAll(TYPED))
    if (matches(m[0])) { first = m.index; break }
  let start = 0
  if (first > WINDOW / 3) {
    start = text.indexOf(" ", first - WINDOW / 3) + 1
    if (start <= 0 || start > first) start = first
  }
  let end = text.length
  if (end - start > WINDOW) {
    end = text.lastIndexOf(" ", start + WINDOW)
    if (end <= start) end = start + WINDOW
  }
  let shown = text.slice(start, end)
  if (start > 0) shown = "… " + shown
  if (end < text.length && !shown.endsWith("…")) shown += " …"
  return shown
}

/*
 * The documents that answer a query, best first: {words, expanded, ranked:
 * [[id, [words matched, words in title, which words]], ...], rows, exact}.
 */
async function rank(query, current) {
  const words = parse(query)
  if (!words.length)
    return { words, expanded: [], ranked: [], rows: new Map(), exact: true }
  const expanded = await Promise.all(words.map(expand))
  const found = await Promise.all(expanded.map(pages))

  /* id -> [words matched, words in title, which words] */
  const hits = new Map()
  found.forEach((page, i) => {
    for (const [id, inTitle] of page) {
      let hit = hits.get(id)
      if (!hit) hits.set(id, hit = [0, 0, 0])
      hit[0]++
      hit[1] += inTitle
      hit[2] |= 1 << i
    }
  })
  let ranked = [...hits]
  const best = ranked.reduce((n, [, hit]) => Math.max(n, hit[0]), 0)
  if (best === words.length)
    ranked = ranked.filter(([, hit]) => hit[0] === best)

  if (!current())
    return null

  /* Newer first among equals: from the ranking file when there are many, else from the rows */
  const days = ranked.length > conf.results ? await ranking() : null
  const rows = new Map()
  if (!days)
    await Promise.all(ranked.map(async ([id]) => rows.set(id, await metadata(id))))
  const day = id => days ? days.get(id) || 0 : rows.get(id) ? rows.get(id)[4] : 0
  ranked.sort(([a, x], [b, y]) => y[0] - x[0] || y[1] - x[1] || day(b) - day(a) || a - b)
  return { words, expanded, ranked, rows, exact: expanded.every(e => e.complete) }
}

/* The theme's items for the ranked documents from `from` on, `count` of them, grouped by page */
async function items(answer, from, count) {
  const { words, ranked, rows } = answer
  const slice = ranked.slice(from, from + count)
  await Promise.all(slice.map(async ([id]) => rows.has(id) || rows.set(id, await metadata(id))))

  const matches = matcher(words)
  const groups = new Map()
  slice.forEach(([id, hit], n) => {
    const row = rows.get(id)
    if (!row)
      return
    const [, location, title, parent, , text] = row
    const terms = {}
    words.forEach((q, i) => terms[q.key] = (hit[2] >> i & 1) === 1)
    const item = {
      location,
      title: highlight(title, matches),
      text: text ? `<p>${highlight(excerpt(text, matches), matches)}</p>` : "",
      score: Math.round(100 * (1 - (from + n) / ranked.length)) / 100,
      terms
    }
    const page = location.split("#")[0]
    if (parent && page === location)
      item.tags = [escapeHTML(parent)] /* a part's parent heads its group instead */
    if (!groups.has(page))
      groups.set(page, { parent, items: [] })
    groups.get(page).items.push(item)
  })

  /* The theme shows each page with its parts: give a part found alone its page */
  for (const [page, group] of groups)
    if (!group.items.some(item => !item.location.includes("#")))
      group.items.push({
        location: page, title: escapeHTML(group.parent || page), text: "", score: 0, terms: {}
      })
  return [...groups.values()].map(group => group.items)
}

async function search(query, current) {
  const answer = await rank(query, current)
  if (!answer)
    return null
  const { words, expanded, ranked, exact } = answer
  const shown = Math.min(conf.results, ranked.length)
  const result = { items: await items(answer, 0, shown), total: ranked.length, shown, exact }
  if (suggestions) {
    const last = words[words.length - 1]
    const word = last && last.prefix && expanded[words.length - 1].all
      .reduce((a, e) => !a || e.titles + e.bodies > a.titles + a.bodies ? e : a, null)
    result.suggest = word ? [word.word] : []
  }
  return { result, answer }
}

/* The port that pages on through the latest answer; the answer to a new query closes it */
let pager = null

function paging(answer, shown) {
  if (pager)
    pager.close()
  pager = null
  if (!answer || shown >= answer.ranked.length)
    return null
  const channel = new MessageChannel()
  const port = pager = channel.port1
  const total = answer.ranked.length, exact = answer.exact
  let next = shown, queue = Promise.resolve()
  port.onmessage = () => {
    queue = queue.then(async () => {
      const from = next
      next = Math.min(from + conf.results, total)
      let data = []
      try {
        data = await items(answer, from, next - from)
      } catch (err) {
        console.warn(`search: ${err}`)
        next = from /* nothing shown: asking again tries again */
      }
      port.postMessage({ items: data, shown: next, total, exact })
    })
  }
  return channel.port2
}

/* ------------------------------------------------------------------------- */

addEventListener("message", ev => {
  const message = ev.data
  switch (message.type) {
    case SETUP: {
      const { config, options } = message.data
      conf = config.intranet || null
      stopwords = new Set(conf ? conf.stopwords : [])
      initials = new Set(conf ? conf.initials : [])
      suggestions = !!(options && options.suggest)
      postMessage({ type: READY })
      break
    }
    case QUERY: {
      const seq = ++latest
      const current = () => seq === latest
      const done = found => {
        if (!found || !current())
          return
        const { result, answer } = found
        const more = paging(answer, result.shown)
        if (more)
          result.more = more
        postMessage({ type: RESULT, data: result }, more ? [more] : [])
      }
      const empty = { result: { items: [], total: 0, shown: 0, exact: true } }
      if (!conf) {
        done(empty)
        break
      }
      search(message.data, current).then(done, err => {
        console.warn(`search: ${err}`)
        done(empty)
      })
      break
    }
    default:
      throw new TypeError("search: unknown message")
  }
})
