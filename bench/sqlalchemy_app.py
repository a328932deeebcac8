"""The stack this project replaces, for `make bench-orm`: FastAPI on SQLAlchemy 2's AsyncSession
over asyncpg, doing what bench/orm_app.py's endpoints do, on the same tables, served the same way
(gunicorn, one uvicorn worker). Its packages are the `bench` dependency group.

No middleware: this is the plan's endpoint as written, not a production app. The engine's pool is
opened on first use (the worker runs without lifespan events) and sized like DB_POOL_MAX_SIZE.
"""

import os
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Boolean, DateTime, Integer, String, Uuid, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "accounts_user"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    is_staff: Mapped[bool] = mapped_column(Boolean)
    date_joined: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Session(Base):
    __tablename__ = "django_session"
    session_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_data: Mapped[str] = mapped_column(String)
    expire_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginFailures(Base):
    __tablename__ = "accounts_loginfailures"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    username: str
    email: str
    is_staff: bool
    date_joined: datetime


class MeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    username: str
    email: str
    is_staff: bool


def _url() -> str:
    password = quote(os.environ["DB_PASSWORD"], safe="")
    host, port, name = os.environ["DB_HOST"], os.environ["DB_PORT"], os.environ["DB_NAME"]
    return f"postgresql+asyncpg://{os.environ['DB_USER']}:{password}@{host}:{port}/{name}"


engine = create_async_engine(_url(), pool_size=10, max_overflow=0)
sessions = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/user/{username}", response_model=UserOut)
async def read(username: str) -> User:
    async with sessions() as session:
        return (await session.scalars(select(User).where(User.username == username))).one()


@app.post("/write")
async def write() -> dict[str, bool]:
    async with sessions() as session, session.begin():
        row = LoginFailures(key=uuid.uuid4().hex, window_started_at=datetime.now(UTC), failures=0)
        session.add(row)
        await session.flush()
        await session.execute(update(LoginFailures).where(LoginFailures.key == row.key).values(failures=1))
    return {"ok": True}


@app.get("/me", response_model=MeOut)
async def me(session_key: str, user: uuid.UUID) -> User:
    """The session row by key, then its user: the two reads of /api/auth/me (the user's id comes
    in the query, as for the floor: decoding Django's signed session is not this stack's work)."""
    async with sessions() as session:
        found = select(Session).where(Session.session_key == session_key, Session.expire_date > datetime.now(UTC))
        (await session.scalars(found)).one()
        return (await session.scalars(select(User).where(User.id == user))).one()
