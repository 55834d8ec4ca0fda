"""`feedsync init MASTER`: look at a product master and write a first feedsync.yaml.

It sniffs what a new user otherwise finds by trial: the format, encoding and delimiter (the
sources' own detection), whether the file is a known shop export (a preset maps it all),
which header means which field in the common shop languages (en, es, pt, fr, de, it, tr),
the separator of multi-valued cells (image lists), and decimal commas. Each choice is
checked against sample values (an id column must be unique, a GTIN column must hold
barcodes, a price column numbers) so the config it writes builds. The file says, in
comments, what was chosen, what is a guess to check, and which columns were not mapped.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from feedsync.config import SourceConfig
from feedsync.errors import ConfigError
from feedsync.sources import open_plain_source
from feedsync.sources.presets import detect_preset

SAMPLE_ROWS = 300
PLACEHOLDER_SHOP = "https://shop.example.com"

# field -> language -> header names (normalised: lower case, no accents, words only).
# Earlier names win; the first field to claim a column keeps it.
HEADER_NAMES: dict[str, dict[str, list[str]]] = {
    "id": {"en": ["variant sku", "variant id", "sku", "id", "product id", "item id",
                  "article number", "reference"],
           "es": ["referencia", "codigo", "id producto"], "pt": ["codigo", "referencia"],
           "fr": ["reference", "code article"], "de": ["artikelnummer", "artikel nr"],
           "it": ["codice", "codice articolo"], "tr": ["varyant id", "urun kodu", "stok kodu"]},
    "title": {"en": ["title", "name", "product name", "product title"],
              "es": ["nombre", "titulo", "nombre producto"], "pt": ["nome", "titulo"],
              "fr": ["nom", "titre", "nom du produit"],
              "de": ["bezeichnung", "produktname", "titel", "name"],
              "it": ["nome", "titolo", "nome prodotto"], "tr": ["isim", "urun adi", "baslik"]},
    "description": {"en": ["description plaintext", "description", "body html",
                           "long description", "body"],
                    "es": ["descripcion"], "pt": ["descricao"], "fr": ["description"],
                    "de": ["beschreibung"], "it": ["descrizione"], "tr": ["aciklama"]},
    "price": {"en": ["variant price", "price", "regular price", "list price"],
              "es": ["pvp", "precio"], "pt": ["preco"], "fr": ["prix"], "de": ["preis"],
              "it": ["prezzo"], "tr": ["satis fiyati", "fiyat"]},
    "sale_price": {"en": ["sale price", "special price"], "es": ["precio oferta"],
                   "pt": ["preco promocional"], "fr": ["prix promo"],
                   "de": ["angebotspreis"], "it": ["prezzo scontato"],
                   "tr": ["indirimli fiyati"]},
    "link": {"en": ["link", "url", "product url", "permalink"], "es": ["enlace"],
             "pt": ["link do produto"], "fr": ["lien"], "de": ["produkt url"],
             "it": ["collegamento"], "tr": ["urun linki"]},
    "image_link": {"en": ["image link", "image src", "image url", "image", "images",
                          "picture", "photo"],
                   "es": ["imagen", "imagenes"], "pt": ["imagem", "imagens"],
                   "fr": ["image", "images"], "de": ["bild", "bilder", "bild url"],
                   "it": ["immagine", "immagini"], "tr": ["resim url", "resim", "gorsel"]},
    "brand": {"en": ["brand", "vendor", "manufacturer"], "es": ["marca", "fabricante"],
              "pt": ["marca"], "fr": ["marque"], "de": ["marke", "hersteller"],
              "it": ["marca", "produttore"], "tr": ["marka"]},
    "gtin": {"en": ["gtin", "ean", "upc", "barcode", "variant barcode", "ean13"],
             "es": ["codigo de barras"], "pt": ["codigo de barras"], "fr": ["code barre"],
             "de": ["strichcode"], "it": ["codice a barre"], "tr": ["barkod", "barkod listesi"]},
    "mpn": {"en": ["mpn", "manufacturer part number"], "es": ["referencia fabricante"],
            "pt": ["referencia do fabricante"], "fr": ["reference fabricant"],
            "de": ["herstellernummer"], "it": ["codice produttore"], "tr": ["uretici kodu"]},
    "availability": {"en": ["availability", "stock status", "in stock"],
                     "es": ["disponibilidad"], "pt": ["disponibilidade"],
                     "fr": ["disponibilite"], "de": ["verfugbarkeit"], "it": ["disponibilita"],
                     "tr": ["stok durumu"]},
    "quantity": {"en": ["quantity", "qty", "stock", "inventory qty", "variant inventory qty"],
                 "es": ["cantidad", "existencias"], "pt": ["quantidade", "estoque"],
                 "fr": ["quantite"], "de": ["menge", "bestand"], "it": ["quantita", "giacenza"],
                 "tr": ["stok", "stok adedi", "miktar"]},
    "google_product_category": {"en": ["google product category"],
                                "es": ["categoria google"], "pt": ["categoria google"],
                                "fr": ["categorie google"], "de": ["google kategorie"],
                                "it": ["categoria google"], "tr": ["google urun kategorisi"]},
    "product_type": {"en": ["product type", "category", "categories"],
                     "es": ["categoria", "categorias", "tipo producto"],
                     "pt": ["categoria", "categorias"], "fr": ["categorie", "categories"],
                     "de": ["kategorie", "kategorien"], "it": ["categoria", "categorie"],
                     "tr": ["kategori", "kategoriler"]},
    "item_group_id": {"en": ["item group id", "group id", "parent sku", "parent"],
                      "es": ["grupo", "id grupo"], "pt": ["grupo"], "fr": ["groupe"],
                      "de": ["gruppe"], "it": ["gruppo"], "tr": ["urun grup id", "grup id"]},
    "color": {"en": ["color", "colour"], "es": ["color"], "pt": ["cor"], "fr": ["couleur"],
              "de": ["farbe"], "it": ["colore"], "tr": ["renk"]},
    "size": {"en": ["size"], "es": ["talla"], "pt": ["tamanho"], "fr": ["taille"],
             "de": ["grosse"], "it": ["taglia"], "tr": ["beden"]},
    "condition": {"en": ["condition"], "es": ["estado"], "pt": ["condicao"], "fr": ["etat"],
                  "de": ["zustand"], "it": ["condizione"], "tr": ["durum"]},
    "shipping_weight": {"en": ["weight", "shipping weight"], "es": ["peso"], "pt": ["peso"],
                        "fr": ["poids"], "de": ["gewicht"], "it": ["peso"],
                        "tr": ["agirlik"]},
}
LOCALES = {"es": "es_ES", "pt": "pt_PT", "fr": "fr_FR", "de": "de_DE", "it": "it_IT",
           "tr": "tr_TR", "en": "de_DE"}  # en with decimal commas: a European shop
CURRENCIES = {"es": "EUR", "pt": "EUR", "fr": "EUR", "de": "EUR", "it": "EUR", "tr": "TRY",
              "en": "USD"}
_URL = re.compile(r"https?://", re.I)
_DECIMAL_COMMA = re.compile(r"^\s*\d{1,3}(\.\d{3})*,\d{1,2}\b|^\s*\d+,\d{1,2}\b")
_NUMBER = re.compile(r"^\s*[^\d\s-]{0,3}\s*\d[\d.,\s]*(\s*[A-Za-z€$£₺]{1,3})?\s*$")
_BARCODE = re.compile(r"^\d{8,14}$")
_CURRENCY_IN_CELL = re.compile(r"[A-Z]{3}\s*$|[€$£₺]")


@dataclass
class Draft:
    """What `feedsync init` found and will write; `guesses` are the choices to check."""

    master: Path
    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    preset: str | None = None
    language: str | None = None
    locale: str | None = None
    list_separator: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # field -> column or template
    defaults: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    guesses: list[str] = field(default_factory=list)
    shop_url: str | None = None
    needs_shop_url: bool = False
    needs_currency: bool = False
    currency: str | None = None
    rules: list[str] = field(default_factory=list)  # channel rule steps, as YAML flow text

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def normalise_header(header: str) -> str:
    """`Satış Fiyatı` -> `satis fiyati`: lower case, accents off, words only."""
    text = unicodedata.normalize("NFKD", header.replace("ı", "i").replace("İ", "I"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.findall(r"[a-z0-9]+", text))


def draft_config(master: Path, *, shop_url: str | None = None,
                 currency: str | None = None) -> Draft:
    """Look at `master` and decide a first configuration (nothing is written)."""
    master = master.resolve()
    source = open_plain_source(SourceConfig(path=str(master)), master.parent)
    columns = list(source.columns)
    rows = []
    for number, source_row in enumerate(source.rows()):
        if number >= SAMPLE_ROWS:
            break
        rows.append(source_row.data)
    draft = Draft(master, encoding=getattr(source, "encoding", None),
                  delimiter=getattr(source, "delimiter", None))
    draft.format = master.suffix.lower().lstrip(".") or None
    draft.shop_url = shop_url
    draft.preset = detect_preset(columns)
    fixture = {"model", "pk"} <= set(columns) and any(c.startswith("fields.") for c in columns)
    if fixture:
        # A Django fixture holds every model's objects; the products are one model of them.
        models = Counter(str(r.get("model") or "") for r in rows)
        product_model = next((m for m, _ in models.most_common() if m.endswith(".product")),
                             None)
        draft.columns["id"] = "{{ row['model'] }}.{{ row['pk'] }}"
        if product_model:
            draft.rules.append(f"- filter: {{keep: \"extra['model'] == '{product_model}'\"}}")
        draft.note("a Django fixture (model/pk/fields): one row per object; the channel keeps "
                   f"the {product_model or 'product'} objects, whose prices live in other "
                   "objects, so map price once you have joined or exported them")
    if draft.preset:
        draft.note(f"a {draft.preset} export: the preset maps its columns")
        draft.needs_shop_url = draft.preset != "meta"
    else:
        _map_columns(draft, columns, rows)
    _sniff_values(draft, rows)
    if currency:
        draft.currency = currency.upper()
    if draft.needs_currency and not draft.currency:
        draft.currency = CURRENCIES.get(draft.language or "en", "EUR")
        draft.guesses.append(f"currency {draft.currency} (from the headers' language; the "
                             "prices carry none)")
    if draft.currency and draft.needs_currency:
        draft.defaults["currency"] = draft.currency
    if draft.needs_shop_url and not draft.shop_url:
        draft.shop_url = PLACEHOLDER_SHOP
        draft.guesses.append(f"shop_url {PLACEHOLDER_SHOP}: put your shop's address")
    mapped = set(draft.columns.values())
    if not draft.preset:  # a preset maps the export's columns itself
        draft.unmapped = [c for c in columns if c not in mapped
                          and not any(f"['{c}']" in t for t in draft.columns.values())]
    return draft


def _map_columns(draft: Draft, columns: list[str], rows: list[dict[str, str | None]]) -> None:
    # `fields.name` (a Django fixture's nesting) matches as `name`.
    by_name = {normalise_header(c).removeprefix("fields "): c for c in reversed(columns)}
    taken: set[str] = set()
    languages: Counter[str] = Counter()
    for target, names in HEADER_NAMES.items():
        if target in draft.columns:
            continue
        for language, header in _candidates(names):
            column = by_name.get(header)
            if column is None or column in taken:
                column = next((c for n, c in by_name.items() if c not in taken and (
                    n.startswith(header + " ")) and len(header) > 3), None)
            if column is None or column in taken:
                continue
            if not _values_fit(target, column, rows, draft):
                continue
            draft.columns[target] = column
            taken.add(column)
            if language != "en" or header not in _ENGLISH_TOO:
                languages[language] += 1
            break
    draft.language = languages.most_common(1)[0][0] if languages else None
    if "id" not in draft.columns:
        unique = next((c for c in columns if _values_fit("id", c, rows, draft)), None)
        if unique is not None:
            draft.columns["id"] = unique
            draft.guesses.append(f"id from {unique!r}, the first column unique in every row")
        else:
            draft.note("no column has a unique id in every row: map `id` yourself")
    if "link" not in draft.columns:
        slug = next((c for c in columns if normalise_header(c).removeprefix("fields ")
                     in ("slug", "handle", "url key")), None)
        key = slug or draft.columns.get("id")
        if key and "{{" not in key:
            draft.columns["link"] = f"{{{{ shop_url }}}}/{{{{ row['{key}'] }}}}"
            draft.needs_shop_url = True
            draft.guesses.append(f"link built from the shop address and {key!r}: check the "
                                 "path matches your shop's product pages")


_ENGLISH_TOO = {"id", "sku", "name", "description", "url", "link", "image", "images",
                "color", "marca", "categoria", "nome", "peso", "reference"}


def _candidates(names: dict[str, list[str]]) -> list[tuple[str, str]]:
    ordered = []
    for language, headers in names.items():
        ordered += [(language, h) for h in headers]
    return ordered


def _values_fit(target: str, column: str, rows: list[dict[str, str | None]],
                draft: Draft) -> bool:
    """Whether the sample values can be what `target` means (else the column is left)."""
    values = [str(r.get(column) or "").strip() for r in rows]
    filled = [v for v in values if v]
    if target == "id":
        return len(filled) == len(values) and len(set(filled)) == len(filled) and bool(filled)
    if not filled:
        return target not in ("price", "link", "image_link", "title")
    share = len(filled) * 0.8
    if target in ("price", "sale_price"):
        return sum(1 for v in filled if _NUMBER.match(v)) >= share
    if target in ("link", "image_link"):
        return sum(1 for v in filled if _URL.match(v)) >= share
    if target == "gtin":
        fit = sum(1 for v in filled if _BARCODE.match(v.replace(" ", ""))) >= share
        if not fit:
            draft.note(f"{column!r} looks like a barcode column but does not hold "
                               "GTINs (EAN/UPC): not mapped as gtin")
        return fit
    if target == "quantity":
        return sum(1 for v in filled if re.fullmatch(r"-?\d+(\.0+)?", v)) >= share
    return True


def _sniff_values(draft: Draft, rows: list[dict[str, str | None]]) -> None:
    """Decimal commas, currencies in the cells, the separator of image lists."""
    price_column = draft.columns.get("price")
    if price_column is None and draft.preset:
        draft.needs_currency = True
        return
    prices = [str(r.get(price_column) or "") for r in rows if r.get(price_column)] \
        if price_column else []
    if prices and sum(1 for p in prices if _DECIMAL_COMMA.match(p)) > len(prices) / 2:
        draft.locale = LOCALES.get(draft.language or "en", "de_DE")
        draft.note(f"prices use decimal commas: locale {draft.locale}")
    draft.needs_currency = not prices or sum(
        1 for p in prices if _CURRENCY_IN_CELL.search(p)) < len(prices) / 2
    image_column = draft.columns.get("image_link")
    if image_column:
        cells = [str(r.get(image_column) or "") for r in rows]
        for separator in (";", "|", ","):
            if sum(1 for c in cells if len(_URL.findall(c)) > 1 and separator in c) > 0:
                if separator != ",":
                    draft.list_separator = separator
                    draft.note(f"{image_column!r} lists several images separated by "
                                       f"{separator!r}: list_separator set")
                break
    if "availability" not in draft.columns:
        draft.defaults["availability"] = "in_stock"
        draft.guesses.append("every product in stock (no availability column): map one, or "
                             "derive it from the stock with a rule")
    if "condition" not in draft.columns:
        draft.defaults["condition"] = "new"


def render_config(draft: Draft, config_path: Path, *, spec: str = "google_merchant",
                  output: str = "feeds/google.xml") -> str:
    """The commented feedsync.yaml for `draft`, with paths relative to `config_path`."""
    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    master = os.path.relpath(draft.master, config_path.parent.resolve())
    lines = ["# yaml-language-server: $schema=feedsync.schema.json",
             f"# Written by `feedsync init {draft.master.name}`. Check the lines marked CHECK,",
             "# then: feedsync validate  (and feedsync preview --channel google)", ""]
    for note in draft.notes:
        lines.append(f"# found: {note}")
    for guess in draft.guesses:
        lines.append(f"# CHECK: {guess}")
    lines += ["", "source:", f"  path: {q(master)}"]
    if draft.encoding and draft.encoding not in ("utf-8", "utf-8-sig"):
        lines.append(f"  encoding: {draft.encoding}  # detected")
    if draft.delimiter and draft.delimiter != ",":
        lines.append(f"  delimiter: {q(draft.delimiter)}  # detected")
    if draft.preset:
        lines.append(f"  preset: {draft.preset}")
    if draft.shop_url and (draft.preset or draft.needs_shop_url):
        mark = "  # CHECK: your shop's address" if draft.shop_url == PLACEHOLDER_SHOP else ""
        lines.append(f"  shop_url: {q(draft.shop_url)}{mark}")
    if draft.locale:
        lines.append(f"  locale: {draft.locale}  # decimal commas in the prices")
    if draft.list_separator:
        lines.append(f"  list_separator: {q(draft.list_separator)}  # between image URLs")
    if draft.columns:
        lines.append("  columns:  # feed field: master column (or a template over `row`)")
        for target, column in draft.columns.items():
            text = column.replace("{{ shop_url }}", draft.shop_url or PLACEHOLDER_SHOP)
            lines.append(f"    {target}: {q(text)}")
    if draft.defaults:
        lines.append("  defaults:  # used where the master has no value")
        for target, value in draft.defaults.items():
            lines.append(f"    {target}: {q(value)}")
    if draft.unmapped:
        lines.append("  # Not mapped (kept for rules as row['...']; map any that feed a field):")
        for column in draft.unmapped:
            lines.append(f"  #   {column}")
    lines += ["", "channels:", "  google:", f"    spec: {spec}", f"    output: {q(output)}"]
    if draft.rules:
        lines.append("    rules:")
        lines += [f"      {rule}" for rule in draft.rules]
    lines.append("")
    return "\n".join(lines)


def write_config(text: str, path: Path, *, force: bool = False) -> None:
    """Write the config, refusing to replace an existing file unless `force`."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; use --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
