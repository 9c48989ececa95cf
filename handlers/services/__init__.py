"""The rules of the chat, shared by the socket handlers and the REST views."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.hooks import PreSendHooks
from handlers.lifecycle import Lifecycle
from handlers.push import Pusher
from handlers.services.auth import AuthService
from handlers.services.blocks import BlockService
from handlers.services.conversations import ConversationService
from handlers.services.files import FileService
from handlers.services.messaging import MessagingService
from handlers.services.reactions import ReactionService
from handlers.services.search import SearchService
from handlers.services.search_indexer import SearchIndexer
from handlers.services.two_factor import TwoFactorService
from handlers.services.users import UserService
from settings import Settings
from storage.blobs import BlobStore


@dataclass(frozen=True, slots=True)
class Services:
    auth: AuthService
    two_factor: TwoFactorService
    users: UserService
    blocks: BlockService
    conversations: ConversationService
    messaging: MessagingService
    search: SearchService
    search_indexer: SearchIndexer
    reactions: ReactionService
    files: FileService

    @classmethod
    def build(
        cls, db: AsyncEngine, settings: Settings, pusher: Pusher, blobs: BlobStore, hooks: PreSendHooks | None = None, lifecycle: Lifecycle | None = None
    ) -> "Services":
        conversations = ConversationService(db, settings, pusher, lifecycle)
        auth = AuthService(db, settings)
        search_indexer = SearchIndexer(db)
        return cls(
            auth=auth,
            two_factor=TwoFactorService(db, settings, auth),
            users=UserService(db, pusher, lifecycle),
            blocks=BlockService(db, pusher),
            conversations=conversations,
            messaging=MessagingService(db, settings, pusher, conversations, hooks, lifecycle, search_indexer),
            search=SearchService(db),
            search_indexer=search_indexer,
            reactions=ReactionService(db, settings, pusher),
            files=FileService(db, settings, blobs),
        )
