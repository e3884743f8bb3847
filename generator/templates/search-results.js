/*
 * The intranet's search results: the true count, and more results on request.
 *
 * Material for MkDocs writes "N matching documents" from the number of
 * results its search worker sends, and our worker (search-worker.js) sends
 * the first page of them. Its answer also carries `total` (how many
 * documents match), `exact` (false when total is a lower bound), `shown`,
 * and, when more remain, `more`: a MessagePort that answers any message with
 * the next page, {items, shown, total, exact}. The theme passes the answer on
 * unchanged through its component$ observable, where this script reads it:
 * it writes the count over the theme's, and once the theme has rendered its
 * results, adds a "Show more results" control below them. The next results
 * are rendered in the theme's own markup, in a list of ours under its list.
 *
 * The control is a link acting as a button, so the theme's arrow keys reach
 * it like the results around it (Tab closes the theme's search); Enter,
 * Space and a click load the next page and move the focus to its first
 * result. Without the theme's component$ this script does nothing.
 */
"use strict"
;(() => {
  const box = document.querySelector("[data-md-component=search-result]")
  const configured = document.getElementById("__config")
  if (!box || !configured || typeof component$ === "undefined")
    return
  const config = JSON.parse(configured.textContent)
  const base = new URL(config.base, location.href)
  const t = config.translations || {}
  const marking = (config.features || []).includes("search.highlight")
  const lang = document.documentElement.lang || undefined
  const meta = box.querySelector(".md-search-result__meta")
  const theirs = box.querySelector(".md-search-result__list")
  if (!meta || !theirs)
    return

  const ours = element("ol", "md-search-result__list intranet-search-more__list")
  const footer = element("div", "intranet-search-more")
  const status = element("p", "intranet-search-more__status")
  status.setAttribute("role", "status")
  const control = element("a", "intranet-search-more__control")
  control.setAttribute("role", "button")
  control.textContent = "Show more results"
  footer.append(status, control)
  footer.hidden = true
  box.append(ours, footer)

  let state = null // {port, expected, shown, total, exact, busy}

  function element(name, className) {
    const el = document.createElement(name)
    el.className = className
    return el
  }

  function number(total, exact) {
    return total.toLocaleString(lang) + (exact ? "" : "+")
  }

  function count(total, exact) {
    if (total === 1 && exact && t["search.result.one"])
      return t["search.result.one"]
    return (t["search.result.other"] || "# matching documents").replace("#", number(total, exact))
  }

  /* One result as the theme renders it (templates/search in Material's sources) */
  function article(item, parent, teaser) {
    const url = new URL(item.location, base)
    if (marking)
      url.searchParams.set("h", Object.keys(item.terms).filter(key => item.terms[key]).join(" "))
    const link = element("a", "md-search-result__link")
    link.href = `${url}`
    link.tabIndex = -1
    const body = element("article", "md-search-result__article md-typeset")
    body.dataset.mdScore = item.score.toFixed(2)
    if (parent)
      body.append(element("div", "md-search-result__icon md-icon"))
    const heading = document.createElement(parent ? "h1" : "h2")
    heading.innerHTML = item.title /* the worker escaped it and added <mark> only */
    body.append(heading)
    if (teaser && item.text)
      body.insertAdjacentHTML("beforeend", item.text)
    if (item.tags) {
      const tags = element("nav", "md-tags")
      for (const tag of item.tags)
        tags.append(Object.assign(element("span", "md-tag"), { innerHTML: tag }))
      body.append(tags)
    }
    const missing = Object.keys(item.terms).filter(key => !item.terms[key])
    if (teaser && missing.length) {
      const terms = element("p", "md-search-result__terms")
      terms.append(`${t["search.result.term.missing"] || "Missing"}: `)
      missing.forEach((key, i) => {
        if (i) terms.append(" ")
        terms.append(Object.assign(document.createElement("del"), { textContent: key }))
      })
      body.append(terms)
    }
    link.append(body)
    return link
  }

  function group(items) {
    const li = element("li", "md-search-result__item")
    const at = Math.max(0, items.findIndex(item => !`${new URL(item.location, base)}`.includes("#")))
    const sections = items.filter((_, i) => i !== at)
    li.append(article(items[at], true, at === 0 && !sections.length))
    for (const section of sections)
      li.append(article(section, false, true))
    return li
  }

  function update() {
    if (!state || !state.port) {
      footer.hidden = true
      return
    }
    status.textContent = `Showing ${state.shown.toLocaleString(lang)} of ${number(state.total, state.exact)}`
    const more = state.shown < state.total
    control.hidden = !more
    if (!more)
      control.removeAttribute("href")
    /* Below the theme's results only once it has rendered them all: it adds them as the reader scrolls */
    footer.hidden = theirs.children.length < state.expected
  }

  function show(answer) {
    if (state && state.port)
      state.port.close()
    state = null
    ours.replaceChildren()
    control.removeAttribute("aria-disabled")
    if (answer.items && answer.items.length && typeof answer.total === "number") {
      meta.textContent = count(answer.total, answer.exact)
      if (answer.more) {
        const query = box.closest(".md-search")?.querySelector("input[name=query]")
        const url = new URL(location.href)
        url.searchParams.set("q", query ? query.value : "")
        control.href = `${url}`
        const current = state = {
          port: answer.more, expected: answer.items.length,
          shown: answer.shown, total: answer.total, exact: answer.exact, busy: false
        }
        current.port.onmessage = ev => receive(current, ev.data)
      }
    }
    update()
  }

  function receive(current, page) {
    if (current !== state)
      return
    const focused = document.activeElement === control
    current.busy = false
    control.removeAttribute("aria-disabled")
    Object.assign(current, { shown: page.shown, total: page.total, exact: page.exact })
    const added = page.items.map(group)
    ours.append(...added)
    update()
    const first = added.length ? added[0].querySelector("a") : null
    if (focused && first)
      first.focus() /* on to the new results, as the arrow keys would go */
  }

  function more(ev) {
    ev.preventDefault()
    ev.stopPropagation() /* the theme closes its search on a click on a link */
    if (!state || state.busy || state.shown >= state.total)
      return
    state.busy = true
    control.setAttribute("aria-disabled", "true")
    state.port.postMessage("more")
  }

  control.addEventListener("click", more)
  control.addEventListener("keydown", ev => {
    if (ev.key === " ")
      more(ev) /* a button's key; the theme would hand it to the search box */
  })
  new MutationObserver(update).observe(theirs, { childList: true })
  component$.subscribe(component => {
    if (component.ref === box)
      show(component)
  })
})()
