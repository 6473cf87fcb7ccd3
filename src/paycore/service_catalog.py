"""The service's catalog methods: sellers, products, prices, stock (one transaction each)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from paycore import catalog
from paycore.flows import identity
from paycore.flows.engine import Engine
from paycore.money import Money
from paycore.records import Product, Seller
from paycore.unit import Unit

T = TypeVar("T")


class CatalogMethods:
    """Part of :class:`paycore.service.PaymentService`: what a shop's back office calls."""

    engine: Engine

    def _tx(self, fn: Callable[[Unit], T]) -> T:
        return self.engine.transact(fn)

    def installation_id(self) -> str:
        """This store's identity at the provider (created on first use): every provider
        object paycore makes carries it, and only objects carrying it are paycore's."""
        return self._tx(identity.installation_id)

    # --- catalog ----------------------------------------------------------------------

    def add_seller(
        self, seller_id: str, name: str, provider_account: str, *, charges_enabled: bool = True
    ) -> Seller:
        """Register a seller and the provider account that takes its payments."""
        return self._tx(
            lambda u: catalog.add_seller(u, seller_id, name, provider_account, charges_enabled)
        )

    def set_charges_enabled(self, seller_id: str, enabled: bool) -> None:
        self._tx(lambda u: catalog.set_charges_enabled(u, seller_id, enabled))

    def add_product(
        self, product_id: str, seller_id: str, sku: str, name: str, price: Money
    ) -> Product:
        return self._tx(lambda u: catalog.add_product(u, product_id, seller_id, sku, name, price))

    def delete_product(self, product_id: str) -> None:
        """Soft delete: open orders keep their snapshot of the product (S12)."""
        self._tx(lambda u: catalog.delete_product(u, product_id))

    def set_price(self, product_id: str, price: Money) -> None:
        """Reprice a product: new checkouts pay the new price, open orders keep theirs (S12)."""
        self._tx(lambda u: catalog.set_price(u, product_id, price))

    def restock(self, seller_id: str, sku: str, quantity: int) -> None:
        """Add ``quantity`` units of ``sku`` to ``seller_id``'s shelf.

        Stock belongs to a seller: another seller's units of the same SKU are never
        sold in its place.

        Raises:
            InvalidInput, InvalidQuantity: malformed arguments (nothing changed).
            SellerNotFound, StockItemNotFound: no product of that seller has this SKU
                (nothing changed; add the product first).
        """
        self._tx(lambda u: catalog.restock(u, seller_id, sku, quantity))

    def adjust_stock(self, seller_id: str, sku: str, delta: int, reason: str) -> None:
        """Correct a seller's on-hand count (a count, a breakage); never below held +
        committed. Raises as :meth:`restock` does, and StockBelowReserved."""
        self._tx(lambda u: catalog.adjust_stock(u, seller_id, sku, delta, reason))
