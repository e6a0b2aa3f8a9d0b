"""SQL of banks: look-ups by name and id, listing, creating and deleting."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from jaga.store.models import Bank
from jaga.store.types import utcnow


def by_name(session: Session, name: str) -> Bank | None:
    return session.scalars(select(Bank).where(Bank.name == name)).one_or_none()


def by_id(session: Session, bank_id: int) -> Bank | None:
    return session.get(Bank, bank_id)


def all_banks(session: Session) -> list[Bank]:
    return list(session.scalars(select(Bank).order_by(Bank.name)))


def names(session: Session) -> list[str]:
    return list(session.scalars(select(Bank.name).order_by(Bank.name)))


def add(session: Session, bank: Bank) -> Bank:
    session.add(bank)
    session.flush()
    return bank


def remove(session: Session, bank_id: int) -> None:
    """Delete a bank; its entries go with it (ON DELETE CASCADE)."""
    session.execute(delete(Bank).where(Bank.id == bank_id))
    session.expunge_all()


def touch(session: Session, bank_id: int) -> None:
    """Mark a bank as modified (its entries changed)."""
    session.execute(update(Bank).where(Bank.id == bank_id).values(updated_at=utcnow()))
